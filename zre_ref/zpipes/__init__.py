"""zre_ref.zpipes"""
