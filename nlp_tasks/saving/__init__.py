"""The saved model folder, owned in one place.

- :mod:`nlp_tasks.saving.layout`: what the folder is made of (its file names, the description's
  format, the vocabulary-name rule, which of its entries nlp-tasks wrote, the folder kind that
  :mod:`nlp_tasks.saving.outdir` claims and recovers);
- :mod:`nlp_tasks.saving.folder`: writing it (``Pipeline.save``) and reading it back, checked
  (``Pipeline.read_meta``, ``Pipeline.load``);
- :mod:`nlp_tasks.saving.card`: its model card ``README.md``, with the text each task supplies.

Export folders (:mod:`nlp_tasks.export`) take the vocabulary and card names from here too.
"""
