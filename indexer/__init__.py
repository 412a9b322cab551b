"""Repository index: git-aware file set, tree-sitter segments, symbols, LMDB store, watcher.

Imports nothing else of codepager's and never imports torch.
"""
