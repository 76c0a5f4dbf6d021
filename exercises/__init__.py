"""Learner exercises, generated from solutions/ by `molpractice make-exercises`. Write your code here."""
