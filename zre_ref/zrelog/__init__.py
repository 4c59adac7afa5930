"""zre_ref.zrelog"""
