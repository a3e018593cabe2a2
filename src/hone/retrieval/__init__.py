"""Retrieval machinery that does not depend on a model: vector indexes, BM25 and hard-negative mining.

`index.VectorIndex` searches embeddings by cosine similarity (faiss: exact up to 50k vectors,
HNSW above) and exports them for external vector stores; `bm25.BM25Retriever` is the lexical
baseline a tuned embedder must beat; `mining.mine_hard_negatives` picks training negatives that
score high but not as high as the positive.
"""
