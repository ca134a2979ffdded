import torch
class Model(nn.Module:
    pass
