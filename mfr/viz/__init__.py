"""Figures of what a model learned (attention maps, embedding projections), shared by notebooks, scripts and callbacks."""
