"""Text as ids: vocabularies and tokenizers, labels in one canonical form, chunk tags (BIO, IOBES)."""
