"""Readers of dataset files in their on-disk formats (IDX, CIFAR, image folders, TFDS)."""
