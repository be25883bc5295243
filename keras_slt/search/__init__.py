"""The search: `SupermaskModel` (one global threshold per step), its optimizers and callbacks."""
