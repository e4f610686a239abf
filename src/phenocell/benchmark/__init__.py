"""Reference benchmark: frozen encoders, linear / UNETR heads, macro F1 under domain shift.

Needs the ``benchmark`` extra (torch, timm, safetensors, kornia, transformers).
"""
