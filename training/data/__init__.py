"""Data stage: importers (motion archives -> Clip records), captions, the noise simulator, and the
on-disk caches and datasets the training stage reads."""
