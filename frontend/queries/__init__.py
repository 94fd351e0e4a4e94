"""Page data: each page's view calls one function here, with a fixed number of queries."""
