"""Reference solutions. Lines between # BEGIN SOLUTION and # END SOLUTION are what learners write."""
