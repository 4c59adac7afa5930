"""zre_ref.sim"""
