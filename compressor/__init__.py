"""Token counting, history trimming, LLMLingua compression, protected spans."""
