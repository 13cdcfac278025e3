"""rosey.dbservice"""
