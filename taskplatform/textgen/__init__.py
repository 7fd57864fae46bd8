"""Text generation with a Hugging Face model."""
