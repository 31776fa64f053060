"""Leaderboards: rankings, a member's rank, and the choice to stay off them."""
