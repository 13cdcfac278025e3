"""rosey.bot"""
