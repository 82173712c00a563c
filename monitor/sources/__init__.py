"""Sources of articles: one module per kind (``feed``, ``seeds``)."""
