"""Deep forecasting members: N-HiTS and PatchTST.

Training (``api``, ``training``, ``nhits``, ``patchtst``) needs torch; serving (``serving``,
``member``) runs on ONNX Runtime and never imports torch, so this package's ``__init__`` imports
nothing: a serving process pays only for what it uses.
"""
