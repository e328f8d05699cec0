"""Metrics: arrays in, numbers out. No generator checkpoint is loaded here.

ssim, psnr, pckh, is_score, fid: pure functions; inception, lpips: the metric networks (plain torch,
published parameter names); masks: the Market mask; evaluate: the two protocols over a folder of
generated images; results: the report.
"""
