"""The small core every stage shares: errors a user can act on, atomic writes, COCO RLE,
file hashing.
"""
