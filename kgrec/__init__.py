"""kgrec: a knowledge-graph-centric, cross-domain recommender."""

__version__ = "0.1.0"
