"""The detector contract: what a detector is (row-local or corpus-wide), the columns it declares, how it is found by
name (entry points or a dotted path), and the text defence every detector's input passes through. Nothing here reads
files or runs tasks; the layers above build on these classes."""
