"""rosey.store"""
