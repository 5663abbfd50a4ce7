"""Usage trends (reference 001): users, DAU/WAU/MAU and stickiness beside the session figures."""
