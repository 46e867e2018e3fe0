"""The duplicates family: exact and MinHash near-duplicates across a whole corpus (map to keys, reduce over every
shard), the shingling and out-of-core connected components they share, and replay: similarity to a persistent index
of text known to be synthetic."""
