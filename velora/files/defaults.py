"""The defaults of reading and writing tables, which the command line shows as its own.

Free of numpy, pyarrow and torch, so that ``velora --help`` can show them without importing
any of those.
"""

DEFAULT_DELIMITER = ","  # between the fields of a CSV row
# Names a delimiter may be given by where typing the character itself is awkward (a shell).
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
DEFAULT_BLOCK_BYTES = 2 << 20  # bytes of CSV per chunk: about 50,000 rows of four numbers
PARQUET_SUFFIX = ".parquet"  # an output path ending in it is written as Parquet, else CSV
