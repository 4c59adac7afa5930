"""zre_ref.zre"""
