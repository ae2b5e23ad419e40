"""Thin adapters over boto3: each turns AWS calls and errors into plain values and knows no controls."""
