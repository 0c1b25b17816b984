"""Training code for the learned detectors (needs the ``train`` extra: PyTorch).

The service never imports this package; it only loads the exported ONNX files.
"""
