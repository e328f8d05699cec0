"""Metrics: arrays in, numbers out. No generator checkpoint is loaded here.

ssim, psnr, pckh, is_score, fid, colour: pure functions; inception, lpips: the metric networks (plain torch,
published parameter names); evaluate: the two protocols over a folder of generated images;
results: the report. The Market body mask lives in :mod:`pona.masks` (the data layer uses it too).
"""
