"""Scripted policies for Crafter data collection."""
