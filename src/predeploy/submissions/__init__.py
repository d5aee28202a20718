"""Models, pre-release submissions, the testing window, the state machine and model access."""
