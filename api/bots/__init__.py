"""Bot rules: retroactive flagging by user-agent pattern."""
