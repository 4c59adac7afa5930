"""zre_ref.zmtp"""
