"""The offline tool: run the real program under the Pulumi mock runtime, no cluster needed."""
