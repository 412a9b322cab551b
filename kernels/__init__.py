"""Paged-attention kernels (Triton) with plain-torch references of the same signatures.

Imports nothing else of codepager's.
"""
