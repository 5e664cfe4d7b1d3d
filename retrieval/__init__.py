"""Query -> ranked passages: dense (FAISS) now; sparse, fusion and graph boost plug in here."""
