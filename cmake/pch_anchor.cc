// Anchors the shared precompiled <torch/torch.h>; holds no code.
