"""Acquire: download and verify each dataset's sources and each model's weights, unpack them
safely (the download, unpack and weights rules), and the embedded demo archives.
"""
