"""zre_ref.aio"""
