"""PES V2 (DGFiP, Hélios): build and check a spending PES_Aller, read acquits and retours."""
