"""kgrec: a knowledge-graph-centric, cross-domain recommender."""

import warnings

__version__ = "0.1.0"

# PyG (2.8) still scripts a few classes with torch.jit.script when it is imported, which torch
# 2.10+ deprecates with a FutureWarning on every kgrec command that trains; nothing of kgrec's
# uses TorchScript, so that one message is silenced.
warnings.filterwarnings(
    "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
)
# The R-GCN's relational mean runs on sparse CSR products, which torch marks as beta with a
# UserWarning the first time; they are exact, and the warning tells a user nothing to do.
warnings.filterwarnings(
    "ignore", message=r"Sparse CSR tensor support is in beta state", category=UserWarning
)
