"""The data users bring: readers for its formats (CoNLL, LABEL-text, CSV/TSV/JSON lines, plain
text, piano rolls), where it comes from (a file, a folder, ``folder:split`` or a Hugging Face hub
name) and pretrained word vectors."""
