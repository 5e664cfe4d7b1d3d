"""Sources -> records: readers, chunking, summarising, classifying, extraction, workers."""
