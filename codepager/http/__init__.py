"""OpenAI-compatible HTTP endpoint over codepager's engine (`codepager serve --http`)."""
