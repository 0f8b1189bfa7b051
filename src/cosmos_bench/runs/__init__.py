"""Runs you can compare, share and rank: a run's record and scores (`record`), exported as one
bundle (`bundle`), compared mask by mask with another run (`compare`), ranked with others on one
page (`leaderboard`); `cosmos-bench compare | export | leaderboard` (`commands`)."""
