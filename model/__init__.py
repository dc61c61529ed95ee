"""Preprocessing, the ONNX runner and the decision policy (torch-free); the network and export (torch)."""
